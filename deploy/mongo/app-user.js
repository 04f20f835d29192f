// Run by mongosh on the first start (the image's init phase, before authentication is on): the app's own
// user, allowed its own database only.
const pwd = fs.readFileSync('/run/secrets/mongo_app_password', 'utf8').trim();
db.getSiblingDB('fhirgraph').createUser({user: 'fhirgraph', pwd, roles: [{role: 'readWrite', db: 'fhirgraph'}]});
