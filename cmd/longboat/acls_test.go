package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/testcluster"
)

// TestACLsAndUsersCommands: users create/list/delete and acls
// create/list/delete against a broker with --authorizer acl, over its
// SASL_PLAINTEXT listener with --command-config files; the restricted
// user alice is refused until an ACL created by the CLI allows her.
func TestACLsAndUsersCommands(t *testing.T) {
	t.Parallel()
	saslAddr := testcluster.FreeAddrs(t, 1)[0]
	testcluster.Start(t, testcluster.Options{Nodes: 1, Adjust: testcluster.ServeFlags(t, func(cfg *config.Config) []string {
		return []string{"--listeners", cfg.Listeners[0].Name + "://" + cfg.Listeners[0].Addr() + ",SASL_PLAINTEXT://" + saslAddr,
			"--bootstrap-scram-users", "admin:secret", "--authorizer", "acl", "--super-users", "User:admin;User:ANONYMOUS"}
	})})
	dir := t.TempDir()
	props := func(user, pass string) string {
		p := filepath.Join(dir, user+".properties")
		body := fmt.Sprintf("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\nsasl.username=%s\nsasl.password=%s\n", user, pass)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	admin := []string{"--bootstrap-server", saslAddr, "--command-config", props("admin", "secret")}
	alice := []string{"--bootstrap-server", saslAddr, "--command-config", props("alice", "alicepw"), "--timeout", "10s"}
	with := func(conn []string, args ...string) []string { return append(args, conn...) }

	lbOK(t, "alicepw\n", with(admin, "users", "create", "--user", "alice", "--password-stdin")...)
	var users struct {
		Users []userRow `json:"users"`
	}
	lbJSON(t, &users, with(admin, "users", "list")...)
	if fmt.Sprint(users.Users) != "[{admin SCRAM-SHA-256 4096} {admin SCRAM-SHA-512 4096} {alice SCRAM-SHA-256 4096} {alice SCRAM-SHA-512 4096}]" {
		t.Errorf("users list: %v", users.Users)
	}

	lbOK(t, "", with(admin, "topics", "create", "--topic", "cli-orders", "--partitions", "1", "--replication-factor", "1")...)
	_, errs, code := lb(t, "o1\n", with(alice, "produce", "--topic", "cli-orders")...)
	if code != 1 || !strings.Contains(errs, "TOPIC_AUTHORIZATION_FAILED") {
		t.Errorf("alice produces without an ACL: exit %d, %s", code, errs)
	}
	lbFails(t, 1, "CLUSTER_AUTHORIZATION_FAILED", with(alice, "acls", "list")...)

	out := lbOK(t, "", with(admin, "acls", "create", "--principal", "User:alice", "--operation", "Write,Describe", "--topic", "cli-orders")...)
	if _, rows := table(t, out); len(rows) != 2 || !hasRow(rows, "Topic", "cli-orders", "Literal", "User:alice", "*", "Write", "Allow") {
		t.Errorf("acls create printed %q", out)
	}
	var acls struct {
		ACLs []aclRow `json:"acls"`
	}
	lbJSON(t, &acls, with(admin, "acls", "list", "--principal", "User:alice")...)
	if len(acls.ACLs) != 2 {
		t.Errorf("acls list: %+v", acls.ACLs)
	}
	lbOK(t, "o1\n", with(alice, "produce", "--topic", "cli-orders")...)

	lbFails(t, 2, "deleting every ACL at once is refused", with(admin, "acls", "delete")...)
	lbJSON(t, &acls, with(admin, "acls", "delete", "--principal", "User:alice", "--topic", "cli-orders")...)
	if len(acls.ACLs) != 2 {
		t.Errorf("acls delete: %+v", acls.ACLs)
	}
	lbJSON(t, &acls, with(admin, "acls", "list")...)
	if len(acls.ACLs) != 0 {
		t.Errorf("acls left after delete: %+v", acls.ACLs)
	}

	lbOK(t, "", with(admin, "users", "delete", "--user", "alice")...)
	lbJSON(t, &users, with(admin, "users", "list")...)
	if len(users.Users) != 2 {
		t.Errorf("users after delete: %v", users.Users)
	}
	if _, _, code := lb(t, "", with(alice, "topics", "list")...); code == 0 {
		t.Error("a deleted user still authenticates")
	}
}

func TestACLsUsersUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"acls", "--help"}, 0, "longboat acls create"},
		{[]string{"users", "help"}, 0, "--password-stdin"},
		{[]string{"users"}, 2, "missing action"},
		{[]string{"acls", "create", "--principal", "User:a", "--operation", "Read"}, 2, "name the resource"},
		{[]string{"acls", "create", "--principal", "User:a", "--operation", "Fly", "--topic", "t"}, 2, `unknown operation "Fly"`},
		{[]string{"acls", "create", "--principal", "alice", "--operation", "Read", "--topic", "t"}, 2, "Type:name"},
		{[]string{"acls", "list", "--topic", "t", "--group", "g"}, 2, "name one resource"},
		{[]string{"users", "create", "--user", "a"}, 2, "--password"},
		{[]string{"users", "create", "--user", "a", "--password", "p", "--mechanism", "MD5"}, 2, "--mechanism"},
	} {
		out, errs, code := lb(t, "", c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("longboat %v: exit %d, output %q %q; want exit %d and %q", c.args, code, out, errs, c.code, c.want)
		}
	}
}
