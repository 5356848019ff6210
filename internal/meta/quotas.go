package meta

import (
	"net/netip"
	"slices"
	"sync"
)

// QuotaEntity names whom a client quota applies to: a user, a client id,
// a user's client id, or an IP address (connection_creation_rate, never
// combined with the others). Each part is absent (its zero value), the
// default of its type (Kafka's null name) or a name.
type QuotaEntity struct {
	User     QuotaName `json:"user,omitzero"`
	ClientID QuotaName `json:"client_id,omitzero"`
	IP       QuotaName `json:"ip,omitzero"`
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
	// ips holds the named ip entities by address, since a name is stored
	// as given (as Kafka, so that describe matches it) and one address has
	// many spellings; ipDefault is the default ip entity's values.
	ips       map[netip.Addr]map[string]float64
	ipDefault map[string]float64
}

// index returns the State's quota index, built at its first use; nil for
// a State decoded from a snapshot or built by hand.
func (s *State) index() *quotaIndex {
	if s.quotas == nil {
		return nil
	}
	s.quotas.once.Do(func() { s.quotas.build(s.ClientQuotas) })
	return s.quotas
}

func (x *quotaIndex) build(quotas []ClientQuota) {
	x.m = make(map[QuotaEntity]map[string]float64, len(quotas))
	for _, q := range quotas {
		x.m[q.Entity] = q.Values
		if !q.Entity.IP.Set {
			continue
		}
		if q.Entity.IP.Default {
			x.ipDefault = q.Values
			continue
		}
		if a, err := netip.ParseAddr(q.Entity.IP.Name); err == nil {
			if x.ips == nil {
				x.ips = map[netip.Addr]map[string]float64{}
			}
			x.ips[IPKey(a)] = q.Values
		}
	}
}

// IPKey is the form of an address that ip quotas are looked up by: one
// address whether a client reached a dual-stack listener over IPv4 or
// IPv6, and whatever its zone (Java's InetAddress equality ignores it).
func IPKey(a netip.Addr) netip.Addr { return a.WithZone("").Unmap() }

// quotaValues returns the values set on exactly entity e.
func (s *State) quotaValues(e QuotaEntity) map[string]float64 {
	if x := s.index(); x != nil {
		return x.m[e]
	}
	for _, q := range s.ClientQuotas {
		if q.Entity == e {
			return q.Values
		}
	}
	return nil
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

// IPQuotaFor returns the limit of a quota key that applies to connections
// from an address, as Kafka resolves it: the quota set on the address,
// else the default ip quota; ok is false when neither is set.
func (s *State) IPQuotaFor(key string, ip netip.Addr) (limit float64, ok bool) {
	if len(s.ClientQuotas) == 0 {
		return 0, false
	}
	x := s.index()
	if x == nil {
		x = &quotaIndex{}
		x.build(s.ClientQuotas)
	}
	if v, has := x.ips[IPKey(ip)][key]; has {
		return v, true
	}
	v, has := x.ipDefault[key]
	return v, has
}
