package servers

// Protocol is what a server speaks and a load generator drives: the KIND
// of `ukbench serve KIND` and `ukbench load KIND`, the name of ukbench's
// own server app (linuximage.AppDNS, AppHTTP), what a target serves
// (targets.Spec.Protocol) and an experiment workload's kind. Its values are
// written in configs and results as they are: never rename them.
type Protocol string

// The protocols; this is their only definition.
const (
	DNS  Protocol = "dns"
	HTTP Protocol = "http"
)

// Protocols lists every protocol, in the order usage text names them.
var Protocols = []Protocol{DNS, HTTP}
