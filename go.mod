module fsm

go 1.24.0

require (
	github.com/alecthomas/kong v1.17.0
	github.com/dustin/go-humanize v1.1.0
	github.com/winfsp/cgofuse v1.6.0
	go.uber.org/goleak v1.3.0
	golang.org/x/net v0.50.0
)
