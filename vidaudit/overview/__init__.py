"""County and region roll-ups: the O&M indicators per branch, region and bank, by week."""
