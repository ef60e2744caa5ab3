/* json: placeholder until implemented. */
