package meta

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/longboat/longboat/internal/acl"
)

func TestACLsCreateDeleteAndSnapshot(t *testing.T) {
	h := newHarness(t)
	read := acl.Binding{ResourceType: acl.ResourceTopic, Name: "orders", Pattern: acl.PatternLiteral, Principal: "User:alice", Host: "*", Operation: acl.OpRead, Permission: acl.PermissionAllow}
	write := read
	write.Operation = acl.OpWrite
	grp := read
	grp.ResourceType, grp.Name = acl.ResourceGroup, "billing"
	h.must(Command{CreateACLs: []acl.Binding{read, write}})
	held := h.m.State()
	h.must(Command{CreateACLs: []acl.Binding{read, grp}}) // read again: not added twice
	if got := h.m.State().ACLs; !reflect.DeepEqual(got, []acl.Binding{read, write, grp}) {
		t.Fatalf("ACLs %+v", got)
	}
	if len(held.ACLs) != 2 {
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
	if !reflect.DeepEqual(restored.State().ACLs, h.m.State().ACLs) {
		t.Errorf("restored %+v", restored.State().ACLs)
	}

	topic := acl.Filter{ResourceType: acl.ResourceTopic, Pattern: acl.PatternAny, Operation: acl.OpAny, Permission: acl.PermissionAny}
	reads := acl.Filter{ResourceType: acl.ResourceAny, Pattern: acl.PatternAny, Operation: acl.OpRead, Permission: acl.PermissionAny}
	res := h.must(Command{DeleteACLs: &DeleteACLs{Filters: []acl.Filter{topic, reads}}})
	var removed [][]acl.Binding
	if err := json.Unmarshal(res.Data, &removed); err != nil {
		t.Fatal(err)
	}
	// grp is a READ too: the second filter removes it, and both name read.
	want := [][]acl.Binding{{read, write}, {read, grp}}
	if !reflect.DeepEqual(removed, want) {
		t.Errorf("removed %+v, want %+v", removed, want)
	}
	if got := h.m.State().ACLs; len(got) != 0 {
		t.Errorf("left %+v", got)
	}
}
