/* migrate: placeholder until implemented. */
