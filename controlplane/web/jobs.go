package web

import "net/http"

func (ui *UI) jobRoutes(mux *http.ServeMux) {}
