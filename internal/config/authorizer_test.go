package config

import (
	"slices"
	"strings"
	"testing"
)

func TestAuthorizerFlags(t *testing.T) {
	env := func(string) string { return "" }
	c, err := Parse([]string{"--authorizer", "acl", "--super-users", " User:admin ; User:ANONYMOUS;", "--allow-everyone-if-no-acl-found"}, env)
	if err != nil {
		t.Fatal(err)
	}
	a := c.Authorization
	if a.Authorizer != AuthorizerACL || !slices.Equal(a.SuperUsers, []string{"User:admin", "User:ANONYMOUS"}) || !a.AllowEveryoneIfNoACLFound {
		t.Errorf("parsed %+v", a)
	}
	if c, err := Parse(nil, env); err != nil || c.Authorization.Authorizer != AuthorizerNone || c.Authorization.AllowEveryoneIfNoACLFound {
		t.Errorf("defaults: %+v %v", c.Authorization, err)
	}
	for _, bad := range [][]string{{"--authorizer", "simple"}, {"--super-users", "admin"}} {
		if _, err := Parse(bad, env); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: %v", bad, err)
		}
	}
}
