package loadgen

// SetTCPSendBuffer gives the TCP connections of d's next steps a send
// buffer of n bytes, so that a test can make their writes wait.
func SetTCPSendBuffer(d *DNS, n int) { d.tcpSendBuffer = n }

// StartUDPServer is startUDPServer, for the external tests.
var StartUDPServer = startUDPServer
