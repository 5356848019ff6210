package kafka

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/meta"
	"github.com/longboat/longboat/internal/quota"
)

func init() { handles(0, 1, (*Server).alterClientQuotas) }

// Kafka's client quota entity types.
const (
	quotaUser     = "user"
	quotaClientID = "client-id"
	quotaIP       = "ip"
)

// quotaKeys are the keys Kafka accepts on user and client-id entities,
// all enforced here.
var quotaKeys = map[string]bool{
	quota.ProducerByteRate:       true,
	quota.ConsumerByteRate:       true,
	quota.ControllerMutationRate: true,
	quota.RequestPercentage:      true,
}

// longQuotas are the keys whose values are whole numbers (Kafka's LONG).
var longQuotas = map[string]bool{quota.ProducerByteRate: true, quota.ConsumerByteRate: true}

// quotaEntity reads an entity as AlterClientQuotas and DescribeClientQuotas
// name it: a type and a name, null for the type's default.
func quotaEntity(parts []kmsg.AlterClientQuotasRequestEntryEntity) (meta.QuotaEntity, string) {
	var e meta.QuotaEntity
	if len(parts) == 0 {
		return e, "Invalid empty client quota entity"
	}
	for _, p := range parts {
		var n *meta.QuotaName
		switch p.Type {
		case quotaUser:
			n = &e.User
		case quotaClientID:
			n = &e.ClientID
		case quotaIP:
			n = &e.IP
		default:
			return e, "Unhandled client quota entity type: " + p.Type
		}
		switch {
		case n.Set:
			return e, "Invalid empty client quota entity, duplicate entity entry " + p.Type
		case p.Name == nil:
			*n = meta.DefaultName()
		case *p.Name == "":
			return e, "Empty " + p.Type + " not supported"
		default:
			*n = meta.Named(*p.Name)
		}
	}
	return e, ipEntityError(e)
}

// quotaAlteration validates one entry's operations into an alteration.
func quotaAlteration(e meta.QuotaEntity, ops []kmsg.AlterClientQuotasRequestEntryOp) (meta.QuotaAlteration, string) {
	a := meta.QuotaAlteration{Entity: e, Set: map[string]float64{}}
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Key] {
			return a, fmt.Sprintf("Duplicate quota key %s not updating quota for this entity", op.Key)
		}
		seen[op.Key] = true
	}
	if e.IP.Set {
		return ipAlteration(e, ops)
	}
	for _, op := range ops {
		known := quotaKeys[op.Key]
		switch {
		case !known:
			return a, "Invalid configuration key " + op.Key
		case op.Remove:
			a.Remove = append(a.Remove, op.Key)
		case math.IsNaN(op.Value) || math.IsInf(op.Value, 0):
			return a, fmt.Sprintf("Configuration %s must be a number", op.Key)
		case longQuotas[op.Key] && math.Abs(op.Value-math.Round(op.Value)) > 1e-6:
			return a, fmt.Sprintf("Configuration %s must be a Long value", op.Key)
		case longQuotas[op.Key] && op.Value < 1:
			return a, fmt.Sprintf("Configuration %s must be at least 1 (bytes per second), not %v", op.Key, op.Value)
		case op.Value <= 0:
			return a, fmt.Sprintf("Configuration %s must be positive, not %v", op.Key, op.Value)
		case longQuotas[op.Key]:
			a.Set[op.Key] = math.Round(op.Value)
		default:
			a.Set[op.Key] = op.Value
		}
	}
	return a, ""
}

// alterClientQuotas sets and removes client quotas through __meta. An
// entry with any invalid part gets INVALID_REQUEST and none of its
// changes; the valid entries are applied together.
func (s *Server) alterClientQuotas(ctx context.Context, req *request, body *kmsg.AlterClientQuotasRequest) kmsg.Response {
	resp := kmsg.NewPtrAlterClientQuotasResponse()
	resp.SetVersion(req.version)
	denied := !s.authorizeCluster(req, acl.OpAlterConfigs)
	type result struct {
		code int16
		msg  string
	}
	results := make([]result, len(body.Entries))
	count := map[meta.QuotaEntity]int{}
	entities := make([]meta.QuotaEntity, len(body.Entries))
	bad := make([]string, len(body.Entries))
	for i, en := range body.Entries {
		entities[i], bad[i] = quotaEntity(en.Entity)
		if bad[i] == "" {
			count[entities[i]]++
		}
	}
	cmd := &meta.AlterClientQuotas{}
	for i, en := range body.Entries {
		e := entities[i]
		a, msg := quotaAlteration(e, en.Ops)
		if bad[i] != "" {
			msg = bad[i]
		} else if count[e] > 1 {
			msg = "Ignoring duplicate entity"
		}
		switch {
		case denied:
			results[i] = result{kerr.ClusterAuthorizationFailed.Code, "Authorization failed."}
		case msg != "":
			results[i] = result{kerr.InvalidRequest.Code, msg}
		default:
			cmd.Entries = append(cmd.Entries, a)
		}
	}
	if len(cmd.Entries) > 0 && !body.ValidateOnly {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := s.node.ProposeMeta(pctx, meta.Command{AlterClientQuotas: cmd})
		cancel()
		if err != nil {
			code, msg := metaErrorCode(err)
			for i := range results {
				if results[i].code == 0 {
					results[i] = result{code, msg}
				}
			}
		}
	}
	for i, en := range body.Entries {
		r := kmsg.NewAlterClientQuotasResponseEntry()
		for _, p := range en.Entity {
			w := kmsg.NewAlterClientQuotasResponseEntryEntity()
			w.Type, w.Name = p.Type, p.Name
			r.Entity = append(r.Entity, w)
		}
		if results[i].code != 0 {
			r.ErrorCode, r.ErrorMessage = results[i].code, kmsg.StringPtr(results[i].msg)
		}
		resp.Entries = append(resp.Entries, r)
	}
	return resp
}
