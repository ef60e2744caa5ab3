/* id: placeholder until implemented. */
