package meta

import (
	"slices"
	"sync"
)

// QuotaEntity names whom a client quota applies to: a user, a client id,
// or a user's client id. Each part is absent (its zero value), the
// default of its type (Kafka's null name) or a name.
type QuotaEntity struct {
	User     QuotaName `json:"user,omitzero"`
	ClientID QuotaName `json:"client_id,omitzero"`
}

// QuotaName is one part of a QuotaEntity.
type QuotaName struct {
	Set     bool   `json:"set,omitempty"`
	Default bool   `json:"default,omitempty"`
	Name    string `json:"name,omitempty"`
}

// Named and DefaultName build the parts of a QuotaEntity.
func Named(name string) QuotaName { return QuotaName{Set: true, Name: name} }

// DefaultName is the default entity of a type.
func DefaultName() QuotaName { return QuotaName{Set: true, Default: true} }

// ClientQuota is one entity's quota values by key (producer_byte_rate...).
type ClientQuota struct {
	Entity QuotaEntity        `json:"entity"`
	Values map[string]float64 `json:"values"`
}

// AlterClientQuotas sets and removes quota values (validated by the
// proposer); removing an absent value is a no-op, so a retry is harmless.
type AlterClientQuotas struct {
	Entries []QuotaAlteration `json:"entries"`
}

// QuotaAlteration changes one entity's values.
type QuotaAlteration struct {
	Entity QuotaEntity        `json:"entity"`
	Set    map[string]float64 `json:"set,omitempty"`
	Remove []string           `json:"remove,omitempty"`
}

func (s *State) alterClientQuotas(a *AlterClientQuotas) {
	quotas := slices.Clone(s.ClientQuotas)
	for _, e := range a.Entries {
		i := slices.IndexFunc(quotas, func(q ClientQuota) bool { return q.Entity == e.Entity })
		values := map[string]float64{}
		if i >= 0 {
			for k, v := range quotas[i].Values {
				values[k] = v
			}
		}
		for _, k := range e.Remove {
			delete(values, k)
		}
		for k, v := range e.Set {
			values[k] = v
		}
		switch {
		case len(values) == 0 && i >= 0:
			quotas = slices.Delete(quotas, i, i+1)
		case len(values) == 0:
		case i >= 0:
			quotas[i] = ClientQuota{Entity: e.Entity, Values: values}
		default:
			quotas = append(quotas, ClientQuota{Entity: e.Entity, Values: values})
		}
	}
	if len(quotas) == 0 {
		quotas = nil
	}
	s.ClientQuotas, s.quotas = quotas, &quotaIndex{}
}

// quotaPrecedence lists, most specific first, the entities whose quota
// applies to a connection of some user and client id, as Kafka resolves
// them: user and client id, user with the default client id, user alone,
// then the same with the default user, then client id alone.
func quotaPrecedence(user, clientID string) [8]QuotaEntity {
	u, c, du, dc := Named(user), Named(clientID), DefaultName(), DefaultName()
	return [8]QuotaEntity{
		{User: u, ClientID: c}, {User: u, ClientID: dc}, {User: u},
		{User: du, ClientID: c}, {User: du, ClientID: dc}, {User: du},
		{ClientID: c}, {ClientID: dc},
	}
}

type quotaIndex struct {
	once sync.Once
	m    map[QuotaEntity]map[string]float64
}

// quotaValues returns the values set on exactly entity e.
func (s *State) quotaValues(e QuotaEntity) map[string]float64 {
	if s.quotas == nil { // a State decoded from a snapshot, or built by hand
		for _, q := range s.ClientQuotas {
			if q.Entity == e {
				return q.Values
			}
		}
		return nil
	}
	s.quotas.once.Do(func() {
		s.quotas.m = make(map[QuotaEntity]map[string]float64, len(s.ClientQuotas))
		for _, q := range s.ClientQuotas {
			s.quotas.m[q.Entity] = q.Values
		}
	})
	return s.quotas.m[e]
}

// ClientQuotaFor returns the limit of a quota key that applies to a user's
// client id and the entity it was set on; ok is false when none is set.
func (s *State) ClientQuotaFor(key, user, clientID string) (limit float64, entity QuotaEntity, ok bool) {
	if len(s.ClientQuotas) == 0 {
		return 0, QuotaEntity{}, false
	}
	for _, e := range quotaPrecedence(user, clientID) {
		if v, has := s.quotaValues(e)[key]; has {
			return v, e, true
		}
	}
	return 0, QuotaEntity{}, false
}
