"""Space reports: df, top, layer sharing, waste and trends, in table/json/csv/md/html."""
