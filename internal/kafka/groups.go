package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// groupShard resolves the shard coordinating a group, or an error code.
func (s *Server) groupShard(name string) (uint64, int16) {
	shard, ok := s.node.GroupShardFor(name)
	if !ok {
		return 0, kerr.CoordinatorNotAvailable.Code
	}
	return shard, 0
}
