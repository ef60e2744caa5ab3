/* backoff: placeholder until implemented. */
