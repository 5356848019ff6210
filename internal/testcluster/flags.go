package testcluster

import (
	"testing"

	"github.com/longboat/longboat/internal/config"
)

// ServeFlags returns an Options.Adjust that parses `serve` flags (args is
// given each broker's config, e.g. to keep its first listener) and takes
// the listeners and the security settings from them: TLS, SASL and the
// authorizer.
func ServeFlags(t testing.TB, args func(cfg *config.Config) []string) func(*config.Config) {
	return func(cfg *config.Config) {
		parsed, err := config.Parse(args(cfg), func(string) string { return "" })
		if err != nil {
			t.Errorf("serve flags: %v", err)
			return
		}
		cfg.Listeners, cfg.AdvertisedListeners = parsed.Listeners, parsed.AdvertisedListeners
		cfg.TLS, cfg.SASL, cfg.Authorization = parsed.TLS, parsed.SASL, parsed.Authorization
	}
}
