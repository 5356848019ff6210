package meta

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/longboat/longboat/internal/acl"
)

// DeleteACLs removes every binding any filter matches; the result data is
// the JSON of the bindings each filter removed ([][]acl.Binding), decided
// by the state machine so that a concurrent CreateAcls cannot slip between
// what DeleteAcls reports and what it removes.
type DeleteACLs struct {
	Filters []acl.Filter `json:"filters"`
}

// createACLs adds bindings (validated by the proposer); one already
// present is not added twice, so a retry is harmless.
func (s *State) createACLs(bs []acl.Binding) {
	out := slices.Clone(s.ACLs)
	for _, b := range bs {
		if !slices.Contains(out, b) {
			out = append(out, b)
		}
	}
	s.ACLs = out
}

func (s *State) deleteACLs(d *DeleteACLs) (int, []byte) {
	removed := make([][]acl.Binding, len(d.Filters))
	var kept []acl.Binding
	for _, b := range s.ACLs {
		hit := false
		for i, f := range d.Filters {
			if f.Matches(b) {
				removed[i] = append(removed[i], b)
				hit = true
			}
		}
		if !hit {
			kept = append(kept, b)
		}
	}
	s.ACLs = kept
	data, err := json.Marshal(removed)
	if err != nil {
		panic(fmt.Sprintf("meta: deleted ACLs cannot be encoded: %v", err)) // plain types: cannot happen
	}
	return ErrNone, data
}
