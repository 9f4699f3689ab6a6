package transport

func (s *Server) loadSessions() error { return nil }

func (s *Server) saveSessions() error { return nil }
