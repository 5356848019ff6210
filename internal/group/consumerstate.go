package group

// The replicated state of KIP-848 consumer groups: the coordinator stores
// a group's whole consumer state at every transition (new member, leave,
// subscription change, new target assignment, a member moving epoch), as
// one command. A group is small; one record keeps a replica's view
// consistent without Kafka's per-record bookkeeping.

// Assignment is a set of partitions by topic name, partitions sorted.
type Assignment map[string][]int32

// ConsumerMember is a consumer-protocol member as persisted.
type ConsumerMember struct {
	ID                 string  `json:"id"`
	InstanceID         *string `json:"instance_id,omitempty"`
	RackID             *string `json:"rack_id,omitempty"`
	ClientID           string  `json:"client_id"`
	ClientHost         string  `json:"client_host"`
	RebalanceTimeoutMs int32   `json:"rebalance_timeout_ms"`
	// Epoch is the member epoch: the assignment epoch the member last
	// reconciled to; PreviousEpoch the one before (a member whose response
	// was lost may heartbeat with it).
	Epoch         int32    `json:"epoch"`
	PreviousEpoch int32    `json:"previous_epoch"`
	Topics        []string `json:"topics,omitempty"`
	Regex         string   `json:"regex,omitempty"`
	Assignor      string   `json:"assignor,omitempty"`
	// Assigned is what the member owns and may consume; Revoking what it
	// must give up before its epoch advances (no other member gets those
	// partitions meanwhile).
	Assigned Assignment `json:"assigned,omitempty"`
	Revoking Assignment `json:"revoking,omitempty"`
	// Left marks a static member that left with epoch -2: it keeps its
	// place and assignment until its session ends or its instance rejoins.
	Left bool `json:"left,omitempty"`
	// Classic is set for a member that uses the classic protocol
	// (JoinGroup, SyncGroup, Heartbeat) in a consumer group (migration.go).
	Classic *ClassicMember `json:"classic,omitempty"`
}

// ConsumerRecord is a consumer group's state as persisted.
type ConsumerRecord struct {
	// Epoch is the group epoch, bumped by every membership, subscription
	// or subscribed-topic metadata change; AssignmentEpoch the group epoch
	// the target assignment was computed at.
	Epoch           int32                 `json:"epoch"`
	AssignmentEpoch int32                 `json:"assignment_epoch"`
	Assignor        string                `json:"assignor,omitempty"`
	Members         []ConsumerMember      `json:"members,omitempty"`
	Target          map[string]Assignment `json:"target,omitempty"`
	// Metadata fingerprints the subscribed topics' partition counts the
	// target was computed from: a change bumps the group epoch.
	Metadata string `json:"metadata,omitempty"`
}

// StoreConsumer persists a consumer group's state.
type StoreConsumer struct {
	Group  string         `json:"group"`
	Record ConsumerRecord `json:"record"`
}

// active tells whether a stored consumer group has members.
func (r *ConsumerRecord) active() bool { return r != nil && len(r.Members) > 0 }

// memberAt tells whether the stored group has the member at epoch, or
// just past it (its commit raced its next heartbeat).
func (r *ConsumerRecord) memberAt(id string, epoch int32) bool {
	if r == nil {
		return false
	}
	for _, m := range r.Members {
		if m.ID == id {
			return m.Epoch == epoch || m.PreviousEpoch == epoch
		}
	}
	return false
}

// storeConsumer applies a StoreConsumer: refused when the stored group
// epoch is newer (a coordinator that lost its leadership proposing late).
// A classic group with members is being upgraded: its members live on in
// the consumer record, its classic metadata is tombstoned (the generation
// stays, fencing the commits of its old generations). m.mu is held.
func (m *StateMachine) storeConsumer(s *StoreConsumer, atMs int64) uint64 {
	if g, ok := m.groups[s.Group]; ok && g.Consumer != nil && g.Consumer.Epoch > s.Record.Epoch {
		return resultStale
	}
	g := m.group(s.Group)
	if len(g.Members) > 0 {
		g.Members, g.Leader, g.Protocol, g.ProtocolType = nil, "", "", ProtocolTypeConsumer
		m.log.write(LogKey{Group: s.Group}, true, atMs)
	}
	rec := s.Record
	g.Consumer = &rec
	g.StateMs = atMs
	return 0
}
