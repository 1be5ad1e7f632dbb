package web

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ferryhq/ferry/controlplane/admin"
)

// Geometry of the rows-per-second chart, in SVG user units. The chart
// stretches to the page's width and the height app.css gives it, so it
// stays readable on a narrow screen. Its labels are HTML around it, since
// text in a stretched SVG would be distorted.
const (
	chartWidth  = 1000
	chartHeight = 160
	chartLeft   = 0.0
	chartRight  = chartWidth
	chartTop    = 4.0
	chartBottom = chartHeight - 1.0
)

// minChartInterval is the shortest time between two samples that the chart
// plots as an interval of its own. The control plane stores a progress
// report as a sample at most once a second per job, but stores the
// result's totals at any time, and the job's start also counts as a point.
// A rate over a few milliseconds would spike far above the real one.
const minChartInterval = time.Second

// rateChart is a server-rendered SVG chart of rows per second over the
// current attempt: an area under a step line, one step per interval
// between two progress samples.
type rateChart struct {
	Width, Height            int
	Left, Right, Top, Bottom float64
	// Line and Area are SVG point lists.
	Line, Area string
	// MaxRate is the highest rate of any interval, in rows per second.
	MaxRate float64
	// Span is the time from the first to the last point.
	Span time.Duration
}

// rateInterval is the average rate between two progress samples.
type rateInterval struct {
	// from and to are the interval's bounds, measured from the first point.
	from, to time.Duration
	// end is the time of the sample that closes the interval.
	end time.Time
	// rate is in rows per second.
	rate float64
}

// newRateChart returns the chart of intervals, or nil when there are none.
func newRateChart(intervals []rateInterval) *rateChart {
	if len(intervals) == 0 {
		return nil
	}
	c := &rateChart{
		Width: chartWidth, Height: chartHeight,
		Left: chartLeft, Right: chartRight, Top: chartTop, Bottom: chartBottom,
		Span: intervals[len(intervals)-1].to,
	}
	for _, iv := range intervals {
		c.MaxRate = max(c.MaxRate, iv.rate)
	}
	scaleY := 0.0
	if c.MaxRate > 0 {
		scaleY = (chartBottom - chartTop) / c.MaxRate
	}
	scaleX := (chartRight - chartLeft) / c.Span.Seconds()

	var line []string
	for _, iv := range intervals {
		y := chartBottom - iv.rate*scaleY
		line = append(line,
			point(chartLeft+iv.from.Seconds()*scaleX, y),
			point(chartLeft+iv.to.Seconds()*scaleX, y))
	}
	c.Line = strings.Join(line, " ")
	c.Area = strings.Join(append(append([]string{point(chartLeft, chartBottom)}, line...), point(chartRight, chartBottom)), " ")
	return c
}

func point(x, y float64) string { return fmt.Sprintf("%.1f,%.1f", x, y) }

// rateIntervals turns the samples of attempt epoch into intervals with
// their average rate. startedAt, when known and earlier than the first
// sample, is taken as a point with no rows yet. Samples closer than
// minChartInterval to the previous point extend the previous interval
// instead of starting one.
func rateIntervals(samples []admin.ProgressSample, epoch int64, startedAt *time.Time) []rateInterval {
	var points []admin.ProgressSample
	for _, s := range samples {
		if s.Epoch == epoch {
			points = append(points, s)
		}
	}
	if len(points) == 0 {
		return nil
	}
	if startedAt != nil && startedAt.Before(points[0].Time) {
		points = append([]admin.ProgressSample{{Epoch: epoch, Time: *startedAt}}, points...)
	}

	merged := points[:1:1]
	for _, p := range points[1:] {
		last := merged[len(merged)-1]
		switch {
		case p.Time.Sub(last.Time) >= minChartInterval:
			merged = append(merged, p)
		case len(merged) > 1:
			merged[len(merged)-1] = p
		case p.Time.After(last.Time):
			// Too close to the first point to give a fair rate: start the
			// chart here.
			merged[0] = p
		}
	}

	origin := merged[0].Time
	intervals := make([]rateInterval, 0, len(merged)-1)
	for i := 1; i < len(merged); i++ {
		seconds := merged[i].Time.Sub(merged[i-1].Time).Seconds()
		rows := max(merged[i].Rows-merged[i-1].Rows, 0)
		intervals = append(intervals, rateInterval{
			from: merged[i-1].Time.Sub(origin),
			to:   merged[i].Time.Sub(origin),
			end:  merged[i].Time,
			rate: float64(rows) / seconds,
		})
	}
	return intervals
}

// JobSeconds formats a duration given in seconds, such as the engine's run
// time.
func (v *view) JobSeconds(seconds float64) string {
	return v.Duration(time.Duration(seconds * float64(time.Second)))
}

// JobRate formats a rate in rows per second: one decimal below ten, whole
// numbers with digit grouping above.
func (v *view) JobRate(rate float64) string {
	if rate < 10 {
		return v.T("jobs.rowsPerSecond", "Rate", v.F(rate))
	}
	return v.T("jobs.rowsPerSecond", "Rate", v.N(int64(math.Round(rate))))
}
