module knflow.test/pause

go 1.22
