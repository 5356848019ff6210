package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
)

func init() { handles(0, 1, (*Server).describeClientQuotas) }

// Kafka's DescribeClientQuotas match types.
const (
	matchExact     = 0 // the entity of that type with this name
	matchDefault   = 1 // the default entity of that type
	matchSpecified = 2 // any entity with a part of that type, default or named
)

var matchTypeNames = map[int8]string{matchDefault: "MATCH_TYPE_DEFAULT", matchSpecified: "MATCH_TYPE_SPECIFIED"}

// describeClientQuotas answers with the entities the filter matches and
// their values, as Kafka does: every component must match a part of the
// entity; strict also excludes entities with other parts; no component
// and not strict lists every entity.
func (s *Server) describeClientQuotas(ctx context.Context, req *request, body *kmsg.DescribeClientQuotasRequest) kmsg.Response {
	resp := kmsg.NewPtrDescribeClientQuotasResponse()
	resp.SetVersion(req.version)
	fail := func(code int16, msg string) kmsg.Response {
		resp.ErrorCode, resp.ErrorMessage = code, kmsg.StringPtr(msg)
		return resp
	}
	if !s.authorizeCluster(req, acl.OpDescribeConfigs) {
		return fail(kerr.ClusterAuthorizationFailed.Code, "Authorization failed.")
	}
	// parts maps an entity type to how a component matches it.
	type match struct {
		kind int8
		name string
	}
	parts := map[string]match{}
	has := func(typ string) bool { _, ok := parts[typ]; return ok }
	for _, c := range body.Components {
		switch {
		case c.EntityType == "":
			return fail(kerr.InvalidRequest.Code, "Invalid empty entity type.")
		case has(c.EntityType):
			return fail(kerr.InvalidRequest.Code, "Entity type "+c.EntityType+" cannot appear more than once in the filter.")
		case c.EntityType != quotaUser && c.EntityType != quotaClientID && c.EntityType != quotaIP:
			return fail(kerr.UnsupportedVersion.Code, "Unsupported entity type "+c.EntityType)
		}
		switch kind := int8(c.MatchType); {
		case kind == matchExact && c.Match == nil:
			return fail(kerr.InvalidRequest.Code, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
		case kind == matchExact:
			parts[c.EntityType] = match{kind, *c.Match}
		case kind != matchDefault && kind != matchSpecified:
			return fail(kerr.InvalidRequest.Code, fmt.Sprintf("Unknown match type %d", kind))
		case c.Match != nil:
			return fail(kerr.InvalidRequest.Code, "Request specified "+matchTypeNames[kind]+", but also specified a match string.")
		default:
			parts[c.EntityType] = match{kind, ""}
		}
	}
	if has(quotaIP) && (has(quotaUser) || has(quotaClientID)) {
		return fail(kerr.InvalidRequest.Code, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
	}
	if len(parts) == 0 && body.Strict {
		return resp
	}
	matches := func(typ string, n meta.QuotaName) bool {
		m, ok := parts[typ]
		switch {
		case !ok:
			return !body.Strict || !n.Set
		case !n.Set:
			return false
		case m.kind == matchExact:
			return !n.Default && n.Name == m.name
		case m.kind == matchDefault:
			return n.Default
		}
		return true
	}
	for _, q := range s.linearMeta(ctx).ClientQuotas {
		if !matches(quotaUser, q.Entity.User) || !matches(quotaClientID, q.Entity.ClientID) || !matches(quotaIP, q.Entity.IP) {
			continue
		}
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, p := range []struct {
			typ string
			n   meta.QuotaName
		}{{quotaUser, q.Entity.User}, {quotaClientID, q.Entity.ClientID}, {quotaIP, q.Entity.IP}} {
			if !p.n.Set {
				continue
			}
			w := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			w.Type = p.typ
			if !p.n.Default {
				w.Name = kmsg.StringPtr(p.n.Name)
			}
			e.Entity = append(e.Entity, w)
		}
		for _, k := range slices.Sorted(maps.Keys(q.Values)) {
			w := kmsg.NewDescribeClientQuotasResponseEntryValue()
			w.Key, w.Value = k, q.Values[k]
			e.Values = append(e.Values, w)
		}
		resp.Entries = append(resp.Entries, e)
	}
	return resp
}
