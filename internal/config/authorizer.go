package config

import (
	"flag"
	"fmt"
	"strings"
)

// Authorizers (--authorizer).
const (
	AuthorizerNone = "none"
	AuthorizerACL  = "acl"
)

// Authorization is how requests are authorized.
type Authorization struct {
	// Authorizer is none (every request allowed, as before ACLs) or acl.
	Authorizer string
	// SuperUsers may do everything whatever the ACLs say (super.users).
	SuperUsers []string
	// AllowEveryoneIfNoACLFound allows a request on a resource no ACL
	// covers (allow.everyone.if.no.acl.found).
	AllowEveryoneIfNoACLFound bool
}

type authorizerFlags struct {
	authorizer, superUsers string
	allowIfNone            bool
}

func (f *authorizerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.authorizer, "authorizer", AuthorizerNone, "none (every client may do everything) or acl (Kafka's ACLs, kept in __meta and managed with CreateAcls/DeleteAcls or `longboat acls`)")
	fs.StringVar(&f.superUsers, "super-users", "", "principals that bypass the ACLs, separated by semicolons, e.g. 'User:admin;User:broker1' (super.users); with --authorizer acl it must include the principal the broker's own clients have on its internal listener")
	fs.BoolVar(&f.allowIfNone, "allow-everyone-if-no-acl-found", false, "with --authorizer acl, allow every request on a resource that no ACL covers (allow.everyone.if.no.acl.found)")
}

func (f *authorizerFlags) parse(c *Config) []error {
	var errs []error
	switch f.authorizer {
	case AuthorizerNone, AuthorizerACL:
		c.Authorization.Authorizer = f.authorizer
	default:
		errs = append(errs, fmt.Errorf("--authorizer %q: use none or acl", f.authorizer))
	}
	for _, p := range strings.Split(f.superUsers, ";") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if kind, name, ok := strings.Cut(p, ":"); !ok || kind == "" || name == "" {
			errs = append(errs, fmt.Errorf("--super-users: %q is not a principal; write User:name, separated by semicolons", p))
			continue
		}
		c.Authorization.SuperUsers = append(c.Authorization.SuperUsers, p)
	}
	c.Authorization.AllowEveryoneIfNoACLFound = f.allowIfNone
	return errs
}
