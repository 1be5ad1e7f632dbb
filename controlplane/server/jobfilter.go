package server

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ferryhq/ferry/controlplane/store"
	"github.com/ferryhq/ferry/protocol"
)

// jobStates are the states a job can be in, in lifecycle order.
var jobStates = protocol.JobStates()

// parseJobFilter reads the query parameters state, type, since, until and
// limit of a job listing into f.
func parseJobFilter(q url.Values, f *store.JobFilter) error {
	if v := q.Get("state"); v != "" {
		states, err := parseJobStates(v)
		if err != nil {
			return err
		}
		f.States = states
	}
	if v := q.Get("type"); v != "" {
		t := protocol.JobType(v)
		if t != protocol.JobTransfer && t != protocol.JobPreview {
			return errorf(http.StatusBadRequest, "type is %q; use transfer or preview", v)
		}
		f.Type = t
	}
	var err error
	if f.CreatedSince, err = parseTimeParam(q, "since"); err != nil {
		return err
	}
	if f.CreatedBefore, err = parseTimeParam(q, "until"); err != nil {
		return err
	}
	if !f.CreatedSince.IsZero() && !f.CreatedBefore.IsZero() && !f.CreatedBefore.After(f.CreatedSince) {
		return errorf(http.StatusBadRequest, "until (%s) is not after since (%s); swap them or widen the range",
			q.Get("until"), q.Get("since"))
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return errorf(http.StatusBadRequest, "limit is %q; use 1 to 1000", v)
		}
		f.Limit = n
	}
	return nil
}

// parseJobStates reads a comma-separated list of job states.
func parseJobStates(v string) ([]protocol.JobState, error) {
	var states []protocol.JobState
	for _, part := range strings.Split(v, ",") {
		state := protocol.JobState(strings.TrimSpace(part))
		if state == "" {
			continue
		}
		if !slices.Contains(jobStates, state) {
			names := make([]string, len(jobStates))
			for i, s := range jobStates {
				names[i] = string(s)
			}
			return nil, errorf(http.StatusBadRequest, "state %q is not a job state; use one or more of %s, separated by commas",
				string(state), strings.Join(names, ", "))
		}
		states = append(states, state)
	}
	return states, nil
}

// parseTimeParam reads an RFC 3339 time from the query parameter name, or
// returns the zero time when it is absent.
func parseTimeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		hint := ""
		if strings.Contains(v, " ") {
			hint = "; encode a '+' in the offset as %2B"
		}
		return time.Time{}, errorf(http.StatusBadRequest, "%s is %q; use an RFC 3339 time such as 2026-03-01T12:00:00Z%s", name, v, hint)
	}
	return t, nil
}
