package server

import "sync"

// hub wakes the long polls of a cluster. A queued job wakes one long poll
// that has free slots, so a hundred idle runners do not all race for it. A
// cancellation wakes them all, because the hub does not know which runner
// it is for.
type hub struct {
	mu       sync.Mutex
	clusters map[string]map[*waiter]struct{}
}

// waiter is one long poll.
type waiter struct {
	// ch is closed when the waiter is woken.
	ch chan struct{}
	// wantsJobs is set when the runner reported free slots.
	wantsJobs bool
	woken     bool
}

func newHub() *hub { return &hub{clusters: map[string]map[*waiter]struct{}{}} }

// register adds a long poll of the cluster. Call it before checking for
// work, so that a wake-up in between is not missed.
func (h *hub) register(clusterID string, wantsJobs bool) *waiter {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := &waiter{ch: make(chan struct{}), wantsJobs: wantsJobs}
	set, ok := h.clusters[clusterID]
	if !ok {
		set = map[*waiter]struct{}{}
		h.clusters[clusterID] = set
	}
	set[w] = struct{}{}
	return w
}

// unregister removes a long poll and reports whether a job wake-up had
// chosen it, in which case the caller passes the wake-up on.
func (h *hub) unregister(clusterID string, w *waiter) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if set, ok := h.clusters[clusterID]; ok {
		delete(set, w)
		if len(set) == 0 {
			delete(h.clusters, clusterID)
		}
	}
	return w.woken && w.wantsJobs
}

func (h *hub) wakeLocked(clusterID string, w *waiter) {
	w.woken = true
	close(w.ch)
	set := h.clusters[clusterID]
	delete(set, w)
	if len(set) == 0 {
		delete(h.clusters, clusterID)
	}
}

// wakeOne wakes one long poll of the cluster that has free slots.
func (h *hub) wakeOne(clusterID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.clusters[clusterID] {
		if w.wantsJobs {
			h.wakeLocked(clusterID, w)
			return
		}
	}
}

// broadcast wakes every long poll of the cluster; the empty cluster ID
// wakes every long poll.
func (h *hub) broadcast(clusterID string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, set := range h.clusters {
		if clusterID != "" && id != clusterID {
			continue
		}
		for w := range set {
			h.wakeLocked(id, w)
		}
	}
}
