/* config: placeholder until implemented. */
