package meta

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/longboat/longboat/internal/sasl"
)

func cred(t *testing.T, m, pw string) sasl.Credential {
	t.Helper()
	c, err := sasl.NewCredential(m, pw, sasl.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestBootstrapScramOnlyAtCreation: the users carried by the first
// registration are created with the cluster id; later registrations'
// users are ignored.
func TestBootstrapScramOnlyAtCreation(t *testing.T) {
	h := newHarness(t)
	admin := cred(t, sasl.ScramSHA512, "secret")
	h.must(Command{RegisterBroker: &Broker{ID: 1}, ClusterID: "c1",
		BootstrapScram: []ScramUpsert{{User: "admin", Mechanism: sasl.ScramSHA512, Credential: admin}}})
	h.must(Command{RegisterBroker: &Broker{ID: 2}, ClusterID: "c2",
		BootstrapScram: []ScramUpsert{{User: "late", Mechanism: sasl.ScramSHA512, Credential: admin}}})
	st := h.m.State()
	if got, ok := st.ScramCredential("admin", sasl.ScramSHA512); !ok || !reflect.DeepEqual(got, admin) {
		t.Errorf("admin credential %+v %v", got, ok)
	}
	if _, ok := st.ScramCredential("late", sasl.ScramSHA512); ok {
		t.Error("a registration after creation added a user")
	}
}

func TestAlterScramAndSnapshot(t *testing.T) {
	h := newHarness(t)
	a256, a512, b256 := cred(t, sasl.ScramSHA256, "a"), cred(t, sasl.ScramSHA512, "a"), cred(t, sasl.ScramSHA256, "b")
	h.must(Command{AlterScram: &AlterScram{Upserts: []ScramUpsert{
		{User: "alice", Mechanism: sasl.ScramSHA256, Credential: a256},
		{User: "alice", Mechanism: sasl.ScramSHA512, Credential: a512},
		{User: "bob", Mechanism: sasl.ScramSHA256, Credential: b256},
	}}})
	held := h.m.State()
	h.must(Command{AlterScram: &AlterScram{Deletions: []ScramDeletion{
		{User: "alice", Mechanism: sasl.ScramSHA256}, {User: "nobody", Mechanism: sasl.ScramSHA256},
	}}})
	st := h.m.State()
	if _, ok := st.ScramCredential("alice", sasl.ScramSHA256); ok {
		t.Error("deleted credential still there")
	}
	if _, ok := st.ScramCredential("alice", sasl.ScramSHA512); !ok {
		t.Error("alice's other mechanism went with the deletion")
	}
	if _, ok := held.ScramCredential("alice", sasl.ScramSHA256); !ok {
		t.Error("an update changed a state a reader held")
	}
	var buf bytes.Buffer
	if err := h.m.SaveSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	restored := New()
	if err := restored.RecoverFromSnapshot(&buf, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(restored.State().ScramUsers, st.ScramUsers) {
		t.Errorf("restored %+v, want %+v", restored.State().ScramUsers, st.ScramUsers)
	}
	h.must(Command{AlterScram: &AlterScram{Deletions: []ScramDeletion{{User: "alice", Mechanism: sasl.ScramSHA512}, {User: "bob", Mechanism: sasl.ScramSHA256}}}})
	if h.m.State().ScramUsers != nil {
		t.Errorf("users left: %+v", h.m.State().ScramUsers)
	}
}
