package kafka

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { handles(0, 4, (*Server).apiVersions) }

func (s *Server) apiVersions(_ context.Context, req *request, _ *kmsg.ApiVersionsRequest) kmsg.Response {
	return apiVersionsResponse(req.version)
}

// apiVersionsResponse lists every registered API's range, by key.
func apiVersionsResponse(version int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(version)
	for _, a := range apis {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = a.key, a.min, a.max
		resp.ApiKeys = append(resp.ApiKeys, ak)
	}
	slices.SortFunc(resp.ApiKeys, func(a, b kmsg.ApiVersionsResponseApiKey) int { return int(a.ApiKey) - int(b.ApiKey) })
	return resp
}
