module fsm

go 1.24
