"""Domain services: async functions with keyword-only arguments; they flush, never commit."""
