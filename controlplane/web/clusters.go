package web

import "net/http"

func (ui *UI) clusterRoutes(mux *http.ServeMux) {}
