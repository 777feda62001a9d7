// Extra bundler settings for the JupyterLab extension (package.json's jupyterlab.webpackConfig).
// Module ids by order of use rather than by a hash of each module's identifier: the
// federation container's identifier holds absolute paths, so hashed ids (and with them
// remoteEntry's content hash) would change with the folder the extension is built in.
module.exports = {
  optimization: {
    moduleIds: 'natural',
  },
};
