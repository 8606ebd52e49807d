from source_chartmogul.run import run

if __name__ == "__main__":
    run()
