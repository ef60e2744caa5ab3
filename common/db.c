/* db: placeholder until implemented. */
