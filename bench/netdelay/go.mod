module example.local/netdelay

go 1.22
