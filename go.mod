module github.com/heraldmq/herald

go 1.26
