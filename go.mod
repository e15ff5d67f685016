module fsm

go 1.24.0

require go.uber.org/goleak v1.3.0

require (
	github.com/alecthomas/kong v1.17.0 // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/winfsp/cgofuse v1.6.0 // indirect
	golang.org/x/net v0.50.0 // indirect
)
