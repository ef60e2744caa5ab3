/* delivery_writer: placeholder until implemented. */
