// The standard controls most pages are made of, bundled with the widgets' code.
// The others (tabs, accordions and stacks, with Lumino's tab bar; tags; colours;
// dates and times; file upload; game controllers) come with the whole of
// @jupyter-widgets/controls, a chunk loaded the first time a page needs one of
// them (lazy.ts): a page of sliders and text evaluates a quarter less code
// before it draws. The server preloads that chunk for a page whose widgets
// name one of them (build.mjs writes their names into manifest.json).

export * from '@jupyter-widgets/controls/lib/utils';
export * from '@jupyter-widgets/controls/lib/version';
export * from '@jupyter-widgets/controls/lib/widget_core';
export * from '@jupyter-widgets/controls/lib/widget_description';
export * from '@jupyter-widgets/controls/lib/widget_link';
export * from '@jupyter-widgets/controls/lib/widget_bool';
export * from '@jupyter-widgets/controls/lib/widget_button';
export * from '@jupyter-widgets/controls/lib/widget_box';
export * from '@jupyter-widgets/controls/lib/widget_image';
export * from '@jupyter-widgets/controls/lib/widget_video';
export * from '@jupyter-widgets/controls/lib/widget_audio';
export * from '@jupyter-widgets/controls/lib/widget_int';
export * from '@jupyter-widgets/controls/lib/widget_float';
export * from '@jupyter-widgets/controls/lib/widget_selection';
export * from '@jupyter-widgets/controls/lib/widget_string';
