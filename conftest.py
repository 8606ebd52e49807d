# The CDK's standard-suite hooks and the local ChartMogul emulator's fixtures, for every test folder.
pytest_plugins = ["airbyte_cdk.test.standard_tests.pytest_hooks", "chartmogul_emulator.pytest_plugin"]
