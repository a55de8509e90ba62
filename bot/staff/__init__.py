"""The staff side: accounts, the review web app, the clinic API and exports (reads the store)."""
