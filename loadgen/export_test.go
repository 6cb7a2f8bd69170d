package loadgen

import "time"

// SetTCPSendBuffer gives the TCP connections of d's next steps a send
// buffer of n bytes, so that a test can make their writes wait.
func SetTCPSendBuffer(d *DNS, n int) { d.tcpSendBuffer = n }

// StartUDPServer is startUDPServer, for the external tests.
var StartUDPServer = startUDPServer

// FreezeSender makes each socket of d's next steps freeze its sending
// thread for d every period: a generator that stalls itself.
func FreezeSender(g *DNS, period, d time.Duration) { g.freezeEvery, g.freezeFor = period, d }
