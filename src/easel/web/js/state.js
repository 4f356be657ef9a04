// What one page hands to another within the tab (not persisted).
export const handoff = {
  // parameters for the Generate page to start from (set by the gallery's "re-run")
  prefill: null,
};
