package broker

import (
	"fmt"
	"slices"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/tlscert"
)

// checkOwnPrincipal refuses --authorizer acl when the broker's own
// clients (transaction markers to partition leaders, the web console)
// would not be super users on the listener they use: their requests would
// be denied and transactions would never complete. Kafka's operators list
// the inter-broker principal in super.users the same way.
func checkOwnPrincipal(cfg *config.Config, certs *tlscert.Store) error {
	if cfg.Authorization.Authorizer != config.AuthorizerACL {
		return nil
	}
	in := cfg.InternalListener()
	own := tlscert.Anonymous
	if config.UsesTLS(in.Protocol) && certs != nil && cfg.TLS.ClientAuthOf(in.Name) != config.TLSClientAuthNone {
		own = certs.ClientPrincipal()
	}
	if slices.Contains(cfg.Authorization.SuperUsers, own) {
		return nil
	}
	hint := "add it to --super-users"
	if own == tlscert.Anonymous {
		hint += " (then every client reaching that listener is a super user: keep it off the clients' network), or make it SSL with --tls-client-auth required so that the broker presents its certificate's User:<CN>"
	}
	return fmt.Errorf("--authorizer acl: the broker's own clients (transaction markers, web console) use listener %s as %s, which is not in --super-users; %s", in.Name, own, hint)
}
