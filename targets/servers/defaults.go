package servers

// The servers' defaults and limits, each defined here once; `ukbench
// serve`'s flags, the Linux guest image and a target's dns_sockets read
// them. DefaultZone (zone.go) is the zone served.

// DefaultDNSSockets is DNSConfig.Sockets when 0: UDP sockets sharing the
// port with SO_REUSEPORT.
const DefaultDNSSockets = 2

// MaxDNSSockets bounds DNSConfig.Sockets (`serve dns --sockets`, a target's
// dns_sockets). The kernel spreads queries over the sockets, each served by
// its own goroutine, so sockets beyond the server's CPUs buy nothing: the
// bound is that of a guest's vCPUs (vm.Shape allows up to 255), smaller
// than the load generator's (loadgen.MaxDNSSockets), whose sockets each
// run on their own host thread.
const MaxDNSSockets = 256

// DefaultBodySize is the size of the page served at "/": 612 bytes, the
// size of nginx's welcome page that the unikernel papers serve.
const DefaultBodySize = 612
