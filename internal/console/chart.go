package console

import (
	"fmt"
	"strings"
	"time"
)

// chart is a line over time drawn as an inline SVG polyline, so a page
// needs no charting script.
type chart struct {
	Width, Height int
	Points        string // "x,y x,y ..." in SVG user units
	Max           int64
	Last          int64
	Span          time.Duration
	N             int
}

const chartW, chartH = 480, 120

// lagChart draws group's total lag over the samples that measured it.
func lagChart(ss []sample, group string) chart {
	type pt struct {
		at  time.Time
		lag int64
	}
	var pts []pt
	for _, s := range ss {
		if l, ok := s.GroupLag[group]; ok {
			pts = append(pts, pt{s.At, l})
		}
	}
	c := chart{Width: chartW, Height: chartH, N: len(pts)}
	if len(pts) == 0 {
		return c
	}
	for _, p := range pts {
		c.Max = max(c.Max, p.lag)
	}
	c.Last = pts[len(pts)-1].lag
	c.Span = pts[len(pts)-1].at.Sub(pts[0].at).Round(time.Second)
	top := max(c.Max, 1)
	span := max(c.Span.Seconds(), 1)
	var b strings.Builder
	for i, p := range pts {
		x := p.at.Sub(pts[0].at).Seconds() / span * chartW
		if len(pts) == 1 {
			x = chartW
		}
		// 4 units of margin keep the line's stroke inside the box.
		y := chartH - 4 - float64(p.lag)/float64(top)*(chartH-8)
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", x, y)
	}
	c.Points = b.String()
	return c
}
