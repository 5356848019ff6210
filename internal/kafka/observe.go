package kafka

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// observe records a handled request's latency and outcome.
func (s *Server) observe(req *request, resp kmsg.Response, took time.Duration) {
	api := apiName(req.key)
	s.metrics.RequestDuration.WithLabelValues(api).Observe(took.Seconds())
	s.metrics.Requests.WithLabelValues(api, errorName(firstError(resp))).Inc()
}

func errorName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	if err := kerr.ErrorForCode(code); err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return ke.Message
		}
	}
	return "UNKNOWN"
}

// firstError finds the first non-zero error code in a response, top level
// first, then per topic and partition.
func firstError(resp kmsg.Response) int16 {
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return p.ErrorCode
				}
			}
		}
	case *kmsg.FetchResponse:
		if r.ErrorCode != 0 {
			return r.ErrorCode
		}
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return p.ErrorCode
				}
			}
		}
	case *kmsg.ListOffsetsResponse:
		for _, t := range r.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					return p.ErrorCode
				}
			}
		}
	case *kmsg.MetadataResponse:
		for _, t := range r.Topics {
			if t.ErrorCode != 0 {
				return t.ErrorCode
			}
		}
	case *kmsg.CreateTopicsResponse:
		for _, t := range r.Topics {
			if t.ErrorCode != 0 {
				return t.ErrorCode
			}
		}
	case *kmsg.DeleteTopicsResponse:
		for _, t := range r.Topics {
			if t.ErrorCode != 0 {
				return t.ErrorCode
			}
		}
	case *kmsg.CreatePartitionsResponse:
		for _, t := range r.Topics {
			if t.ErrorCode != 0 {
				return t.ErrorCode
			}
		}
	case *kmsg.DescribeConfigsResponse:
		for _, res := range r.Resources {
			if res.ErrorCode != 0 {
				return res.ErrorCode
			}
		}
	case *kmsg.DescribeClusterResponse:
		return r.ErrorCode
	case *kmsg.ApiVersionsResponse:
		return r.ErrorCode
	case *kmsg.InitProducerIDResponse:
		return r.ErrorCode
	case *kmsg.DescribeLogDirsResponse:
		return firstNonZero(describeLogDirsErrors(r))
	case *kmsg.ElectLeadersResponse:
		return firstNonZero(electLeadersErrors(r))
	case *kmsg.DescribeProducersResponse:
		return firstNonZero(describeProducersErrors(r))
	case *kmsg.DescribeTopicPartitionsResponse:
		return firstNonZero(describeTopicPartitionsErrors(r))
	}
	return 0
}

func firstNonZero(codes []int16) int16 {
	for _, c := range codes {
		if c != 0 {
			return c
		}
	}
	return 0
}
