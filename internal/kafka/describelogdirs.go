package kafka

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/longboat/longboat/internal/acl"
	"github.com/longboat/longboat/internal/partition"
)

func init() { handles(1, 4, (*Server).describeLogDirs) }

// replicaLagWait bounds how long DescribeLogDirs waits for its followers'
// read indexes; lagReaders is how many it asks for at once.
const (
	replicaLagWait = 2 * time.Second
	lagReaders     = 16
)

// describeLogDirs (DescribeLogDirs, key 35) answers with this broker's one
// log directory, its data directory, and every partition replica hosted
// here (all of them, or those the request names): the bytes of its log and
// how far it trails the partition's high watermark.
func (s *Server) describeLogDirs(ctx context.Context, req *request, body *kmsg.DescribeLogDirsRequest) kmsg.Response {
	resp := body.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !s.authorizeCluster(req, acl.OpDescribe) {
		// Kafka answers an empty list (v3+ with the error).
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	path, err := s.node.LogDir()
	if err != nil {
		s.log.Error().Err(err).Msg("describe log dirs")
		dir.ErrorCode, dir.Dir = kerr.KafkaStorageError.Code, s.cfg.DataDir
		resp.Dirs = append(resp.Dirs, dir)
		return resp
	}
	dir.Dir = path
	if body.Version >= 4 {
		if dir.TotalBytes, dir.UsableBytes, err = s.node.LogDirVolume(); err != nil {
			s.log.Warn().Err(err).Msg("describe log dirs: volume size")
		}
	}
	replicas := s.hostedReplicas(body.Topics)
	lags := s.replicaLags(ctx, replicas)
	for i, r := range replicas {
		if len(dir.Topics) == 0 || dir.Topics[len(dir.Topics)-1].Topic != r.topic {
			rt := kmsg.NewDescribeLogDirsResponseDirTopic()
			rt.Topic = r.topic
			dir.Topics = append(dir.Topics, rt)
		}
		rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		rp.Partition, rp.Size, rp.OffsetLag = r.index, r.p.LogSize(), lags[i]
		rt := &dir.Topics[len(dir.Topics)-1]
		rt.Partitions = append(rt.Partitions, rp)
	}
	resp.Dirs = append(resp.Dirs, dir)
	resp.Dirs = append(resp.Dirs, s.offlineDirs(body.Topics)...)
	return resp
}

// offlineDirs describes each replica a storage fault took offline as a
// log directory of its own, its partition directory, with
// KAFKA_STORAGE_ERROR (as Kafka describes an offline log dir), so that an
// operator sees which replica failed.
func (s *Server) offlineDirs(filter []kmsg.DescribeLogDirsRequestTopic) []kmsg.DescribeLogDirsResponseDir {
	offline := s.node.OfflineReplicas()
	if len(offline) == 0 {
		return nil
	}
	st := s.node.Meta()
	var out []kmsg.DescribeLogDirsResponseDir
	for _, name := range st.TopicNames() {
		for _, mp := range st.Topics[name].Partitions {
			if _, ok := offline[mp.ShardID]; !ok || !named(filter, name, mp.Index) {
				continue
			}
			dir := kmsg.NewDescribeLogDirsResponseDir()
			dir.ErrorCode = kerr.KafkaStorageError.Code
			dir.Dir = s.node.PartitionDir(mp.ShardID)
			rt := kmsg.NewDescribeLogDirsResponseDirTopic()
			rt.Topic = name
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition, rp.OffsetLag = mp.Index, -1
			rt.Partitions = append(rt.Partitions, rp)
			dir.Topics = append(dir.Topics, rt)
			out = append(out, dir)
		}
	}
	return out
}

// named tells whether a DescribeLogDirs filter (nil: everything) names a
// partition.
func named(filter []kmsg.DescribeLogDirsRequestTopic, topic string, index int32) bool {
	if filter == nil {
		return true
	}
	for _, t := range filter {
		if t.Topic == topic && slices.Contains(t.Partitions, index) {
			return true
		}
	}
	return false
}

// hostedReplica is one partition replica on this broker.
type hostedReplica struct {
	topic string
	index int32
	shard uint64
	p     *partition.StateMachine
}

// hostedReplicas lists the replicas hosted here, in topic and partition
// order: every one for a nil filter, else those it names.
func (s *Server) hostedReplicas(filter []kmsg.DescribeLogDirsRequestTopic) []hostedReplica {
	st := s.node.Meta()
	var wanted map[string]map[int32]bool
	if filter != nil {
		wanted = map[string]map[int32]bool{}
		for _, t := range filter {
			if wanted[t.Topic] == nil {
				wanted[t.Topic] = map[int32]bool{}
			}
			for _, p := range t.Partitions {
				wanted[t.Topic][p] = true
			}
		}
	}
	var out []hostedReplica
	for _, name := range st.TopicNames() {
		if wanted != nil && wanted[name] == nil {
			continue
		}
		for _, mp := range st.Topics[name].Partitions {
			if wanted != nil && !wanted[name][mp.Index] {
				continue
			}
			if p, ok := s.node.Partition(mp.ShardID); ok {
				out = append(out, hostedReplica{topic: name, index: mp.Index, shard: mp.ShardID, p: p})
			}
		}
	}
	return out
}

// replicaLags measures each replica's offset lag, a few at a time, all
// within replicaLagWait; a lag that could not be learned in time is -1.
func (s *Server) replicaLags(ctx context.Context, replicas []hostedReplica) []int64 {
	ctx, cancel := context.WithTimeout(ctx, replicaLagWait)
	defer cancel()
	lags := make([]int64, len(replicas))
	sem := make(chan struct{}, lagReaders)
	var wg sync.WaitGroup
	for i, r := range replicas {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			lag, err := s.node.ReplicaLag(ctx, r.shard)
			if err != nil {
				s.log.Debug().Err(err).Str("topic", r.topic).Int32("partition", r.index).Msg("describe log dirs: replica lag unknown")
				lag = -1
			}
			lags[i] = lag
		}()
	}
	wg.Wait()
	return lags
}
